// @barrel: Auto-generated exports (scripts/barrels.mjs). Do not edit manually.
export {}
