#pragma once

// The locator's PostgreSQL schema, as versioned migrations (services/common/pg/migrations.h).
// Only the locator service reads or writes this schema.

#include <span>

#include "services/common/pg/migrations.h"

namespace hie::locator {

inline constexpr char kSchema[] = "locator";

std::span<const pg::Migration> Migrations();

}  // namespace hie::locator
