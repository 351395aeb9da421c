package dtmf

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// A key is card data: whatever formats it by accident — %v, %s, %q, %+v of
// an event, a slog attribute in text or JSON, encoding/json — must show the masked dot, not
// the key. Reveal is the one explicit way to get the character.
func TestKeyFormatsWithoutRevealingTheDigit(t *testing.T) {
	for _, c := range []byte("0123456789*#ABCD") {
		k := Key(c)
		ev := KeyEvent{Kind: Begin, Key: k, Source: SourceInband}
		var text, js strings.Builder
		slog.New(slog.NewTextHandler(&text, nil)).Info("press", "key", k)
		slog.New(slog.NewJSONHandler(&js, nil)).Info("press", "key", k)
		checks := []struct{ got, want string }{
			{fmt.Sprint(k), "•"},
			{fmt.Sprintf("%v|%s|%q", k, k, k), `•|•|"•"`},
			{fmt.Sprintf("%+v", ev)[:len("{Kind:begin Key:• ")], "{Kind:begin Key:• "},
			{strings.Fields(text.String())[3], "key=•"},
			{js.String()[strings.Index(js.String(), `"key"`):], `"key":"•"}` + "\n"},
		}
		for _, ch := range checks {
			if ch.got != ch.want {
				t.Fatalf("key %c formats as %q, want %q", c, ch.got, ch.want)
			}
		}
		if b, err := json.Marshal(ev); err != nil || !strings.Contains(string(b), `"Key":"•"`) {
			t.Fatalf("key %c: json.Marshal(event) = %s, %v; want the masked dot", c, b, err)
		}
		if k.Reveal() != string(rune(c)) {
			t.Fatalf("Reveal() = %q, want %q", k.Reveal(), string(rune(c)))
		}
	}
	if Key('x').String() != "?" || Key('x').Reveal() != "?" {
		t.Fatal("a value that is not a key must format as ?")
	}
}
