"""The governance domain: the Collaboration aggregate, its events, rules and derived views."""
