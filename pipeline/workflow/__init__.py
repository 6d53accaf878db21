"""The review and dispatch workflow, as pure code: case states, deadlines, routing and KPIs.

Nothing here talks to the database; ``pipeline.store.review_queue`` and
``pipeline.store.case_workflow`` apply it to stored rows.
"""
