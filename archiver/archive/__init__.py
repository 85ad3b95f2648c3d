"""The archive folder: the Archive API, its SQLite catalog, reindex, diffs, search terms and WACZ export."""
