#pragma once

// Delivers the audit outbox (rows written in the transactions of the changes they describe) to
// the audit log: undelivered rows in sequence order, in batches, through AuditSink (idempotent
// on event_id), marking them delivered once acknowledged (ConsentStore::DeliverOutbox: one
// deliverer at a time across replicas). Nothing is lost while audit is down: rows stay
// undelivered and the backlog grows; deliveries resume when it answers. A row sent but not
// marked (crash, lost COMMIT) is sent again with the same event_id, which the audit log
// records once. Without a sink (no audit address configured) nothing is sent and the backlog
// is only reported.
// Thread-compatible: one caller (the periodic task).

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/consent/core/ports.h"
#include "services/consent/store/consent_store.h"

namespace hie::consent {

struct DeliveryReport {
  size_t delivered = 0;  // rows marked delivered by this call
  int64_t backlog = -1;  // rows still undelivered after it (-1 when it could not be read)
  absl::Status status;   // the first failure (send or store), OK otherwise
};

class OutboxDeliverer {
 public:
  // `sink` may be null. `store` and `sink` must outlive the deliverer.
  OutboxDeliverer(ConsentStore* store, AuditSink* sink, size_t batch_size = 500)
      : store_(store), sink_(sink), batch_size_(batch_size) {}

  // Delivers batches until none is left, a batch fails, or `deadline` passes; then reads the
  // backlog.
  DeliveryReport DeliverOnce(absl::Time deadline);

 private:
  ConsentStore* store_;
  AuditSink* sink_;
  const size_t batch_size_;
};

}  // namespace hie::consent
