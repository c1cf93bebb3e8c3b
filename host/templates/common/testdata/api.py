"""A stand-in for the API this connector reads, for test.sh: a tiny HTTP server
on 127.0.0.1 that serves the items of a JSON file page by page, as many real
APIs do.

    GET /items[?updated_since=T][&cursor=C][&limit=N]
    -> {"data": [item, ...], "next_cursor": "C2"}   ("next_cursor": null on the last page)

`updated_since` keeps the items whose `updated_at` is at or after T (inclusive,
like most APIs: the host drops the rows it already holds); `cursor` is where
the page starts; `limit` is the page size (default 2, so a handful of items
spans several pages). The file is read again for every request, so a test can
add items between runs. Only the Python standard library is used.

    python3 testdata/api.py --items testdata/items.json --port-file PORT [--log LOG]

writes the port it listens on (chosen by the system) to PORT once it is ready,
and each request's path and query to LOG, one a line."""

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", required=True, help="a JSON file holding an array of items")
    parser.add_argument("--port-file", required=True, help="where to write the port, once listening")
    parser.add_argument("--log", help="where to append each request's path and query")
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlsplit(self.path)
            if args.log:
                with open(args.log, "a", encoding="utf-8") as log:
                    log.write(self.path + "\n")
            if url.path.rstrip("/") != "/items":
                return self.reply(404, {"error": f"no such path: {url.path}"})
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            try:
                start = int(query.get("cursor", "0"))
                limit = int(query.get("limit", "2"))
            except ValueError:
                return self.reply(400, {"error": "cursor and limit are integers"})
            with open(args.items, encoding="utf-8") as f:
                items = json.load(f)
            since = query.get("updated_since")
            if since is not None:
                items = [i for i in items if i["updated_at"] >= since]
            items.sort(key=lambda i: (i["updated_at"], i["id"]))
            page = items[start : start + max(limit, 1)]
            end = start + len(page)
            self.reply(200, {"data": page, "next_cursor": str(end) if end < len(items) else None})

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_):
            pass  # quiet: the requests go to --log

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(args.port_file + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(server.server_address[1]))
    # Renamed into place, so a reader never sees half a port number.
    os.replace(args.port_file + ".tmp", args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
