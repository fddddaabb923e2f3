/** Reading the SVGs the report draws: a strict parser, so a test fails on markup a browser would also reject. */

export interface XmlNode {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  /** The element's own text, entities left as written. */
  text: string;
}

/** A strict little XML parser: balanced tags, quoted attributes, known entities only; throws otherwise. */
export function parseXml(src: string): XmlNode {
  const root: XmlNode = { name: '#root', attrs: {}, children: [], text: '' };
  const stack = [root];
  const re = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(src))) {
    if (m[6]) throw new Error(`malformed tag at ${m.index}: ${src.slice(m.index, m.index + 40)}`);
    if (m[5] !== undefined) {
      if (/&(?!(amp|lt|gt|quot|apos);)/.test(m[5])) throw new Error(`bad entity in text: ${m[5]}`);
      stack[stack.length - 1]!.text += m[5];
      continue;
    }
    const [, close, name, attrText, selfClose] = m;
    if (close) {
      const top = stack.pop();
      if (!top || top.name !== name) throw new Error(`</${name}> closes <${top?.name}>`);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText!.matchAll(/([\w:-]+)="([^"]*)"/g)) {
      if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]}`);
      if (/&(?!(amp|lt|gt|quot|apos);)/.test(a[2]!)) throw new Error(`bad entity in attribute ${a[1]}`);
      attrs[a[1]!] = a[2]!;
    }
    const node: XmlNode = { name: name!, attrs, children: [], text: '' };
    stack[stack.length - 1]!.children.push(node);
    if (!selfClose) stack.push(node);
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (root.children.length !== 1) throw new Error('expected one root element');
  return root.children[0]!;
}

/** Every node of the tree, depth first, that satisfies `pred`. */
export function all(n: XmlNode, pred: (x: XmlNode) => boolean): XmlNode[] {
  return [...(pred(n) ? [n] : []), ...n.children.flatMap((c) => all(c, pred))];
}
