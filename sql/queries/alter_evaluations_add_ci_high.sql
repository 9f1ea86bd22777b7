-- Upgrade: the upper bound of each figure's interval, on a home made before intervals. No binds.
ALTER TABLE evaluations ADD COLUMN IF NOT EXISTS ci_high DOUBLE;
