package sieve
import ("testing";"context";"os")
func TestDbg(t *testing.T){
	eng,_:=New(Options{})
	raw,_:=os.ReadFile("testdata/diff/messages/cc.eml")
	p,err:=eng.Decide(context.Background(),&Input{Envelope:Envelope{From:"a@b.c",To:"bob@example.com"},Message:NewMessage(raw),Scripts:Scripts{User:"testdata/diff/scripts/x10-index.sieve"}})
	t.Logf("%v %+v", err, p)
}
