"""A small online shop: orders, payments over HTTP, a SQLite database and a clock."""
