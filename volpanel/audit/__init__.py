"""The admin audit trail: filtering and keyset paging (query), pages (views), row detail, exports (CSV, JSON Lines,
CADF) and the actions-per-day chart. Rows are written by services only; nothing here changes them."""
