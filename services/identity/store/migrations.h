#pragma once

// The identity service's PostgreSQL schema, as versioned migrations (see
// services/common/pg/migrations.h). Only the identity service reads or writes this schema.

#include <span>

#include "services/common/pg/migrations.h"

namespace hie::identity {

inline constexpr char kSchema[] = "identity";

std::span<const pg::Migration> Migrations();

}  // namespace hie::identity
