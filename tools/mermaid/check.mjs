// Checks Mermaid diagrams with Mermaid's own parser.
//
// Reads a JSON array of `{ "name": …, "text": … }` on standard input and writes a JSON array with,
// for each diagram in order, either `{ "name", "type", "nodes": [ids], "links": count }` or
// `{ "name", "error": message }`. Exits 0 when every diagram parsed, 1 otherwise.
// Mermaid's flowchart parser sanitizes labels with DOMPurify, which needs a DOM: jsdom gives one.

import { JSDOM } from 'jsdom';

const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;

const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' });

let input = '';
for await (const chunk of process.stdin) {
  input += chunk;
}

const results = [];
let failed = false;
for (const { name, text } of JSON.parse(input)) {
  try {
    await mermaid.parse(text);
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
    results.push({
      name,
      type: diagram.type,
      nodes: [...diagram.db.getVertices().keys()],
      links: diagram.db.getEdges().length,
    });
  } catch (error) {
    failed = true;
    results.push({ name, error: String(error?.message ?? error) });
  }
}
process.stdout.write(JSON.stringify(results, null, 2) + '\n');
process.exit(failed ? 1 : 0);
