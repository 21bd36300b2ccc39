"""What more than one test module uses: databases (dbutil), running the bot (harness,
process), people tapping through it (journey, e2e, hostile), patients in bulk (population,
bulk), the dispatcher (dispatch), care-layer alerts (alerts), the protocol file (protocol)
and the sandbox (sandbox). Test modules import from here, never from each other."""
