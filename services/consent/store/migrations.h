#pragma once

// The consent service's PostgreSQL schema, as versioned migrations (see
// services/common/pg/migrations.h). Only the consent service reads or writes this schema.

#include <span>

#include "services/common/pg/migrations.h"

namespace hie::consent {

inline constexpr char kSchema[] = "consent";
// The NOTIFY channel each committed change announces its version on.
inline constexpr char kChangeChannel[] = "consent_changes";

std::span<const pg::Migration> Migrations();

}  // namespace hie::consent
