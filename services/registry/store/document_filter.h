#pragma once

// Whether a stored entry matches FindDocuments' filter (registry_store.h: DocumentFilter), the
// keyset position included. The in-memory store filters with it alone; the PostgreSQL store
// narrows in SQL (patients, status, creation time, position) and checks the rest with it. Pure.

#include "hie/registry/v1/registry.pb.h"
#include "services/registry/store/registry_store.h"

namespace hie::registry {

bool MatchesFilter(const v1::DocumentEntry& entry, const DocumentFilter& filter);
// The part of it the PostgreSQL store checks in SQL: patients, status, creation range, position.
// What it admits counts against filter.max_scanned.
bool MatchesCandidate(const v1::DocumentEntry& entry, const DocumentFilter& filter);

inline constexpr char kTooManyResults[] =
    "too many results: narrow the query (creation_time, class or type codes)";

}  // namespace hie::registry
