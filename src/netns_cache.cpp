// netns_cache.cpp - placeholder until its issue lands.
