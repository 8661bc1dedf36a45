"""Retention uplift: contacts and controls (``data``), the learner (``model``), Qini metrics, the
``retain train uplift`` job and the loader serving calls."""
