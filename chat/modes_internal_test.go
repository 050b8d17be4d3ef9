package chat

import (
	"fmt"
	"reflect"
	"testing"
)

// TestImportModes: what a backend hands back (another node's bucket, an
// older database) keeps to the rules: bad masks, keys, limits and flags
// are dropped, the ban list is bounded, the rest kept as it was.
func TestImportModes(t *testing.T) {
	var bans []Ban
	for i := range MaxBans + 5 {
		bans = append(bans, Ban{Mask: fmt.Sprintf("n%d", i), By: "ana", At: 1})
	}
	bans = append([]Ban{{Mask: "bad mask"}, {Mask: "x", By: "a\x00b"}}, bans...)
	st := importModes(&RoomModes{Flags: "mzt!", Key: "two words", Limit: -4, Bans: bans, Ops: []string{"Ana"}, Voiced: []string{"bob"}, Set: true})
	rm := st.export()
	if rm.Flags != "mt" || rm.Key != "" || rm.Limit != 0 || !rm.Set {
		t.Errorf("flags %q key %q limit %d set %v, want mt, no key, no limit, set", rm.Flags, rm.Key, rm.Limit, rm.Set)
	}
	if len(rm.Bans) != MaxBans || rm.Bans[0].Mask != "n0!*@*" {
		t.Errorf("%d bans, first %v; want %d, n0!*@*", len(rm.Bans), rm.Bans[0], MaxBans)
	}
	if !reflect.DeepEqual(rm.Ops, []string{"ana"}) || !reflect.DeepEqual(rm.Voiced, []string{"bob"}) {
		t.Errorf("ops %v voiced %v", rm.Ops, rm.Voiced)
	}
	st = importModes(&RoomModes{Key: "sesame", Limit: 7})
	if st.key != "sesame" || st.limit != 7 || st.flags != 0 {
		t.Errorf("key %q limit %d flags %b", st.key, st.limit, st.flags)
	}
}
