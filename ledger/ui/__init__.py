"""The evaluator's view: server-rendered pages under /ui over the same read models and access
rules as the API (`ledger.ui.views.blp`)."""
