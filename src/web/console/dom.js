// Building the page from data without innerHTML: every value from the API goes in as text, so nothing a
// licensee name or an uploaded file name holds can become markup (and the CSP forbids inline script anyway).

/** An element with attributes (`on…` ones become listeners) and children (strings become text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** A table from rows and columns `{ label, cell(row) }`; `empty` is shown when there are no rows. */
export function table(columns, rows, empty = 'Nothing yet.') {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h('table', {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c.label)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c) => h('td', {}, c.cell(r)))))));
}

/** A labelled form field. */
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', {}, label), control, hint ? h('small', {}, hint) : null);
}

/** A message box for an API problem (its code and detail) or any error. */
export function problemBox(err) {
  const code = err && err.code ? `${err.code}: ` : '';
  return h('p', { class: 'error', role: 'alert' }, code + (err && (err.detail || err.message) ? err.detail || err.message : String(err)));
}

export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
export const short = (id) => (id ? h('code', { title: id }, id) : '—');
export const badge = (text, kind) => h('span', { class: `badge ${kind || text.replace(/\s+/g, '-')}` }, text);

/** Runs `work` when the form is submitted, with the button disabled meanwhile and errors shown under the form. */
export function onSubmit(form, work) {
  const out = h('div', { class: 'form-out' });
  form.append(out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = form.querySelector('button[type=submit]');
    if (button) button.disabled = true;
    out.replaceChildren();
    try {
      const shown = await work(new FormData(form), out);
      if (shown instanceof Node) out.replaceChildren(shown);
    } catch (err) {
      out.replaceChildren(problemBox(err));
    } finally {
      if (button) button.disabled = false;
    }
  });
  return form;
}
