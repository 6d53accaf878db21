"""The database: tables, migrations, sessions, evidence files, and the writes and reads on them."""
