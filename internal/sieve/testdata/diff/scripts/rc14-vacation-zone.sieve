require ["date","relational","vacation","variables"];
# rule:[Urlaub]
if allof (currentdate :zone "+0100" :value "ge" "iso8601" "2020-01-01T00:00:00+01:00", currentdate :zone "+0100" :value "le" "iso8601" "2099-01-01T00:00:00+01:00")
{
	vacation :days 2 :from "Bob <bob@example.com>" :subject "Urlaub: ${subject}" "Ich bin im Urlaub.";
}
