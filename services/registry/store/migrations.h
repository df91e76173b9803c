#pragma once

// The registry's PostgreSQL schema, as versioned migrations (services/common/pg/migrations.h).
// Only the registry service reads or writes this schema.

#include <span>

#include "services/common/pg/migrations.h"

namespace hie::registry {

inline constexpr char kSchema[] = "registry";

std::span<const pg::Migration> Migrations();

}  // namespace hie::registry
