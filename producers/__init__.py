"""Agency publishers: the publishing library, importers, HTTP intake, scenario generator."""
