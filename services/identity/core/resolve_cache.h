#pragma once

// Port of the cache of Resolve answers (PIX cross-references), keyed by source record.
//
// The cache is an optimisation only: a miss, an error or an unreachable cache means "ask the
// database", never a failure. The identity manager invalidates the entries of every record of
// every person whose links an operation changed, right after the operation commits.

#include <optional>
#include <vector>

#include "hie/identity/v1/identity.pb.h"

namespace hie::identity {

class ResolveCache {
 public:
  virtual ~ResolveCache() = default;
  virtual std::optional<hie::identity::v1::ResolveResponse> Get(
      const hie::common::v1::SourceId& id) = 0;
  virtual void Put(const hie::common::v1::SourceId& id,
                   const hie::identity::v1::ResolveResponse& response) = 0;
  virtual void Invalidate(const std::vector<hie::common::v1::SourceId>& ids) = 0;
};

}  // namespace hie::identity
