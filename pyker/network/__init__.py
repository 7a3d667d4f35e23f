"""Container networking: IPAM, bridges and veths, NAT and published ports, embedded DNS."""
