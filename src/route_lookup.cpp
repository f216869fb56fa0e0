// route_lookup.cpp - placeholder until its issue lands.
