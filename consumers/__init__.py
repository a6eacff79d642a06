"""Alert consumers: the PostgreSQL alert store, the live dashboard, the audit trail."""
