"""Employee routing profiles, rules, follow-me dial strings and presence publishing."""
