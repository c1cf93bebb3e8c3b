// {{name}}: a Headwater connector in JavaScript. It reads one stream, `items`,
// from a JSON API page by page, through the host's `http` interface (so the
// pipeline's `[allow] hosts`, rate limit, retries and `[auth.NAME]` credentials
// apply to every request), and incrementally: a sync asks for the items
// updated since the stream's watermark, and checkpoints after every page.
//
// The API it expects (testdata/api.py is a stand-in for it):
// `GET {base_url}/items?updated_since=<watermark>&cursor=<cursor>` returns
// `{"data": [{"id": 1, "name": "...", "updated_at": "2025-01-01T09:00:00Z"}, ...],
// "next_cursor": "2"}`, and `"next_cursor": null` on the last page.
//
// `./headwater.js` is Headwater's JS SDK: build.sh puts a copy of it beside
// this file, from the repository's sdk/js, when it builds.

import * as hw from './headwater.js';

const endpoint = (config) => config.base_url.replace(/\/+$/, '') + '/items';

export const connector = hw.exportConnector({
  name: '{{name}}',
  version: '0.1.0',
  description: 'Items from a cursor-paged JSON API, read incrementally',
  // The JSON Schema of the config (`[source.config]`); the host validates the pipeline against it.
  configSchema: {
    type: 'object',
    required: ['base_url'],
    additionalProperties: false,
    properties: {
      base_url: { type: 'string', description: "The API's root, e.g. https://api.example.com" },
      auth: { type: 'string', description: "A credential of the pipeline's [auth.NAME], sent by the host" },
    },
  },

  streams() {
    return [
      {
        name: 'items',
        fields: [
          { name: 'id', type: 'int64', nullable: false },
          { name: 'name', type: 'string' },
          { name: 'updated_at', type: 'timestamp', nullable: false },
        ],
        primaryKey: ['id'],
        cursorField: 'updated_at',
      },
    ];
  },

  // One request for one item: the API answers, and the credential is accepted.
  check(config) {
    hw.get(endpoint(config), { limit: 1 }, config.auth);
  },

  read(config, streams) {
    for (const stream of streams) {
      if (stream !== 'items') {
        hw.log.warn(`no stream \`${stream}\`: this connector has \`items\``);
        continue;
      }
      readItems(config);
    }
  },
});

// One sync: the pages after the watermark (or the rest of a sync that a run
// stopped part-way), each page's records emitted by the host straight from the
// body and checkpointed with where the next page starts.
function readItems(config) {
  const sync = new hw.Incremental('items');
  const request = { url: endpoint(config), params: { updated_since: sync.since }, auth: config.auth };
  const paging = { records: '/data', cursorParam: 'cursor', cursorPath: '/next_cursor', start: sync.resume };
  let total = 0;
  for (const page of hw.emitCursorPages('items', request, paging)) {
    total += page.rows;
    sync.checkpoint(page.next);
    hw.progress('items', total);
  }
  hw.log.info(`items: ${total} rows after ${sync.since ?? 'the beginning'}`);
}
