#pragma once

// Whether a stored entry matches FindDocuments' filter (registry_store.h: DocumentFilter), the
// keyset position included. The in-memory store filters with it alone; the PostgreSQL store
// narrows in SQL (patients, status, creation time, position) and checks the rest with it. Pure.

#include "hie/registry/v1/registry.pb.h"
#include "services/registry/store/registry_store.h"

namespace hie::registry {

bool MatchesFilter(const v1::DocumentEntry& entry, const DocumentFilter& filter);

}  // namespace hie::registry
