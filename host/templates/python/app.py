"""{{name}}: a Headwater connector in Python. It reads one stream, `items`,
from a JSON API page by page, through the host's `http` interface (so the
pipeline's `[allow] hosts`, rate limit, retries and `[auth.NAME]` credentials
apply to every request), and incrementally: a sync asks for the items updated
since the stream's watermark, and checkpoints after every page.

The API it expects (testdata/api.py is a stand-in for it):
`GET {base_url}/items?updated_since=<watermark>&cursor=<cursor>` returns
`{"data": [{"id": 1, "name": "...", "updated_at": "2025-01-01T09:00:00Z"}, ...],
"next_cursor": "2"}`, and `"next_cursor": null` on the last page."""

import headwater as hw


class Items(hw.Connector):
    name = "{{name}}"
    version = "0.1.0"
    description = "Items from a cursor-paged JSON API, read incrementally"
    # The JSON Schema of the config (`[source.config]`); the host validates the pipeline against it.
    config_schema = {
        "type": "object",
        "required": ["base_url"],
        "additionalProperties": False,
        "properties": {
            "base_url": {"type": "string", "description": "The API's root, e.g. https://api.example.com"},
            "auth": {"type": "string", "description": "A credential of the pipeline's [auth.NAME], sent by the host"},
        },
    }

    def streams(self, config):
        return [
            hw.Stream(
                "items",
                fields=[
                    hw.Field("id", "int64", nullable=False),
                    hw.Field("name", "string"),
                    hw.Field("updated_at", "timestamp", nullable=False),
                ],
                primary_key=["id"],
                cursor_field="updated_at",
            )
        ]

    def check(self, config):
        """One request for one item: the API answers, and the credential is accepted."""
        hw.get(endpoint(config), {"limit": 1}, auth=config.get("auth"))

    def read(self, config, streams):
        for stream in streams:
            if stream != "items":
                hw.log.warn(f"no stream `{stream}`: this connector has `items`")
                continue
            self.read_items(config)

    def read_items(self, config):
        """One sync: the pages after the watermark (or the rest of a sync that a
        run stopped part-way), each page's records emitted by the host straight
        from the body and checkpointed with where the next page starts."""
        sync = hw.Incremental("items")
        request = hw.Request(endpoint(config), params={"updated_since": sync.since}, auth=config.get("auth"))
        total = 0
        pages = hw.emit_cursor_pages("items", request, "/data", "cursor", "/next_cursor", start=sync.resume)
        for rows, _rest, next_cursor in pages:
            total += rows
            sync.checkpoint(next_cursor)
            hw.progress("items", total)
        hw.log.info(f"items: {total} rows after {sync.since or 'the beginning'}")


def endpoint(config):
    return config["base_url"].rstrip("/") + "/items"


Connector = hw.export(Items)
