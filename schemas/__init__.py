"""Event contracts: Avro schemas (every version), the indicator catalogue, the codec."""
