"""An orders API connector in Python: pages through `GET {base_url}/orders`
by cursor, through the host's HTTP policy, and reads incrementally from the
watermark. Each page's records go to the host untouched (`emit_records`), and
each page is a checkpoint whose state resumes the read mid-way."""

import headwater as hw


class Orders(hw.Connector):
    name = "python-orders"
    version = "0.1.0"
    description = "Orders from a cursor-paged JSON API, written in Python"
    config_schema = {
        "type": "object",
        "required": ["base_url"],
        "additionalProperties": False,
        "properties": {
            "base_url": {"type": "string", "description": "The API's root, e.g. https://api.example.com"},
            "auth": {"type": "string", "description": "A credential of the pipeline's [auth.NAME]"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 10000},
        },
    }

    def streams(self, config):
        return [
            hw.Stream(
                "orders",
                fields=[
                    hw.Field("id", "int64", nullable=False),
                    hw.Field("customer", "string"),
                    hw.Field("amount", "float64"),
                    hw.Field("updated_at", "string"),
                ],
                primary_key=["id"],
                cursor_field="updated_at",
            )
        ]

    def check(self, config):
        hw.get(config["base_url"].rstrip("/") + "/orders", {"limit": 1}, auth=config.get("auth"))

    def read(self, config, streams):
        for stream in streams:
            if stream != "orders":
                raise hw.ConfigError(f"no stream `{stream}`: this connector has `orders`")
            self.read_orders(config)

    def read_orders(self, config):
        sync = hw.Incremental("orders")
        params = {"updated_since": sync.since}
        if "page_size" in config:
            params["limit"] = config["page_size"]
        request = hw.Request(config["base_url"].rstrip("/") + "/orders", params=params, auth=config.get("auth"))
        total = 0
        pages = hw.emit_cursor_pages("orders", request, "/data", "cursor", "/next_cursor", start=sync.resume)
        for rows, _rest, nxt in pages:
            total += rows
            sync.checkpoint(nxt)
            hw.progress("orders", total)
        hw.log.info(f"orders: {total} rows after {sync.since or 'the beginning'}")


Connector = hw.export(Orders)
