# rule:[big]
if size :over 100K
{
	discard;
	stop;
}
# rule:[bounces]
if address :is "from" "MAILER-DAEMON@mx.example.net"
{
	discard;
	stop;
}
