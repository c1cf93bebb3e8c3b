// An orders API connector in JavaScript: pages through `GET {base_url}/orders`
// by cursor, through the host's HTTP policy, and reads incrementally from the
// watermark. Each page's records go to the host untouched (`emitRecords`), and
// each page is a checkpoint whose state resumes the read mid-way.

import * as hw from '../../../sdk/js/headwater.js';

export const connector = hw.exportConnector({
  name: 'js-orders',
  version: '0.1.0',
  description: 'Orders from a cursor-paged JSON API, written in JavaScript',
  configSchema: {
    type: 'object',
    required: ['base_url'],
    additionalProperties: false,
    properties: {
      base_url: { type: 'string', description: "The API's root, e.g. https://api.example.com" },
      auth: { type: 'string', description: "A credential of the pipeline's [auth.NAME]" },
    },
  },

  streams() {
    return [
      {
        name: 'orders',
        fields: [
          { name: 'id', type: 'int64', nullable: false },
          { name: 'customer', type: 'string' },
          { name: 'amount', type: 'float64' },
          { name: 'updated_at', type: 'string' },
        ],
        primaryKey: ['id'],
        cursorField: 'updated_at',
      },
    ];
  },

  check(config) {
    hw.get(config.base_url.replace(/\/$/, '') + '/orders', { limit: 1 }, config.auth);
  },

  read(config, streams) {
    for (const stream of streams) {
      if (stream !== 'orders') throw new hw.ConfigError(`no stream \`${stream}\`: this connector has \`orders\``);
      const sync = new hw.Incremental('orders');
      const req = { url: config.base_url.replace(/\/$/, '') + '/orders', params: { updated_since: sync.since }, auth: config.auth };
      let total = 0;
      for (const page of hw.emitCursorPages('orders', req, { records: '/data', cursorParam: 'cursor', cursorPath: '/next_cursor', start: sync.resume })) {
        total += page.rows;
        sync.checkpoint(page.next);
        hw.progress('orders', total);
      }
      hw.log.info(`orders: ${total} rows after ${sync.since ?? 'the beginning'}`);
    }
  },
});
