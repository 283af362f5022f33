"""What operators read: the health of every source and the catalog, alerts to a webhook, and
exports of the catalog."""
