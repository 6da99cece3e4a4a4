-- What a researcher declared an output to be (its kind, dimension and count columns,
-- unit, profile and protection, as JSON: column names only, never cell values) and the
-- verdict of the disclosure checks on it when last run.
ALTER TABLE outputs ADD COLUMN declaration TEXT;
ALTER TABLE outputs ADD COLUMN verdict TEXT;
