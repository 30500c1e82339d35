"""One router per topic, gathered in repairgpt.api.main."""
