#include "services/identity/store/identity_store.h"

#include "absl/strings/str_cat.h"

namespace hie::identity {

std::string RecordKey(const SourceId& id) { return absl::StrCat(id.org(), "\x1f", id.local_id()); }

}  // namespace hie::identity
