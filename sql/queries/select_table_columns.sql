-- The column names of a table of the main schema (none when it does not exist). Binds: $table.
SELECT column_name FROM information_schema.columns
WHERE table_schema = 'main' AND table_name = $table ORDER BY ordinal_position;
