// A job's progress as a bar and one line of figures, fed by the job's event stream.
import { h, badge } from './dom.js';

const pct = (x) => `${(x * 100).toFixed(1)}%`;

/** The line under the bar: phase, epoch and step, loss, accuracy, speed, time left — whatever the job reports. */
export function describeProgress(p) {
  if (!p) return '';
  const parts = [p.phase];
  if (p.epochs) parts.push(`epoch ${p.epoch}/${p.epochs}`);
  if (p.stepsPerEpoch) parts.push(`step ${p.step}/${p.stepsPerEpoch}`);
  if (typeof p.loss === 'number') parts.push(`loss ${p.loss.toFixed(3)}`);
  if (typeof p.accuracy === 'number') parts.push(`accuracy ${pct(p.accuracy)}`);
  if (typeof p.samplesPerSec === 'number') parts.push(`${Math.round(p.samplesPerSec)} samples/s`);
  if (typeof p.etaSec === 'number' && p.etaSec > 0) parts.push(`${Math.ceil(p.etaSec)} s left`);
  return parts.join(' · ');
}

/** A live view of one job: `update` takes a job record or a progress event. */
export function progressView(job) {
  const bar = h('progress', { max: '1', value: '0' });
  const status = h('span', { class: 'status' });
  const line = h('small', { class: 'progress-line' });
  const el = h('div', { class: 'progress', 'data-job': job.id }, status, bar, line);
  const showStatus = (s) => status.replaceChildren(badge(s));
  const showProgress = (p) => {
    if (!p) return;
    if (typeof p.fraction === 'number') bar.value = p.fraction;
    line.textContent = describeProgress(p);
  };
  const update = (x) => {
    if (x && x.status) {
      showStatus(x.status);
      showProgress(x.progress);
      if (x.status === 'succeeded') bar.value = 1;
      if (x.error) line.textContent = x.error;
    } else showProgress(x);
  };
  update(job);
  return { el, update };
}

/** Follows `job` live into a progress view until it ends or the page is left; resolves with the final record. */
export function followInto(page, job, view) {
  return new Promise((resolve, reject) => {
    const stop = page.api.follow(job.id, {
      onStatus: view.update,
      onProgress: view.update,
      onEnd: (j) => {
        view.update(j);
        resolve(j);
      },
      onError: reject,
    });
    page.onLeave(stop);
  });
}
