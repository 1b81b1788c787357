"""Optional tools: native load generators (wrk, h2load) and a py-spy profile."""
