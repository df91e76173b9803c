#pragma once

// A source record id in one expression, for tests: Id("clinic-a", "mrn-1").

#include <string>

#include "hie/common/v1/common.pb.h"

namespace hie::test_support {

inline common::v1::SourceId Id(const std::string& org, const std::string& local) {
  common::v1::SourceId id;
  id.set_org(org);
  id.set_local_id(local);
  return id;
}

}  // namespace hie::test_support
