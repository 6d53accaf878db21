"""The city's case work: the review queue, cases and their workflow (states, deadlines,
routing, KPIs, the monthly report) and dispatch (webhooks, Open311)."""
