package persist

import (
	"encoding/json"
	"fmt"
	"os"
)

// errNotExist is what the log's metadata store answers for a name it does
// not hold.
var errNotExist = os.ErrNotExist

func (id Identity) encode() []byte {
	b, _ := json.Marshal(id)
	return b
}

func parseIdentity(raw []byte) (Identity, error) {
	var id Identity
	if err := json.Unmarshal(raw, &id); err != nil {
		return Identity{}, err
	}
	if id.ID == 0 || id.Incarnation == 0 {
		return Identity{}, fmt.Errorf("node ID %d, incarnation %d", id.ID, id.Incarnation)
	}
	return id, nil
}
