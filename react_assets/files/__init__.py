"""Where a run's files live under REACT_HOME, and how they are written and hashed."""
