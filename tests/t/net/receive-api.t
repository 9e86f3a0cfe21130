# receive and receiveuntil where luafcgid answered otherwise than ngx_lua
# (each expected value is what Debian's ngx_lua answers to the same calls,
# against the same server):
# - receiveuntil's iterator with inclusive = true and a size gives the
#   pattern with the bytes before it ("cXY"), then nil for the round;
# - "*a" at the end of the stream gives "" again, and "*l" nil, "closed", "";
# - a connection reset is closed: close() then answers nil, "closed".
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_LINGER);
use LFTest;

# A server told what to do by its client, a line at a time: "S text" sends
# the text (\r, \n written so), "C" closes, "R" resets, "Z s" waits.
my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 16, ReuseAddr => 1)
    or die "listen: $!";
my $port = $l->sockport;
my $srv = fork // die "fork: $!";
if ($srv == 0) {
    $SIG{CHLD} = 'IGNORE';
    for (1 .. 100) {
        my $c = $l->accept or last;
        my $kid = fork;
        if (defined $kid && $kid == 0) {
            while (defined(my $line = <$c>)) {
                $line =~ s/\r?\n$//;
                if ($line =~ /^S (.*)$/) { (my $s = $1) =~ s/\\r/\r/g; $s =~ s/\\n/\n/g; syswrite $c, $s }
                elsif ($line eq 'C') { last }
                elsif ($line eq 'R') { setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0)); last }
                elsif ($line =~ /^Z (\S+)/) { select(undef, undef, undef, $1) }
            }
            close $c;
            POSIX::_exit(0);
        }
        close $c;
    }
    POSIX::_exit(0);
}
LFTest::track($srv, 'command server');
close $l;

my $t = LFTest->new(conf => { workers => 1, timeout => 10 });
$t->script('recv.lua', <<"LUA");
local function show(...)
  local t = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    t[#t + 1] = type(v) == "string" and string.format("%q", v) or tostring(v)
  end
  ngx.say(table.concat(t, ","))
end
local function conn(cmds)
  local s = ngx.socket.tcp()
  s:settimeout(1000)
  assert(s:connect("127.0.0.1", $port))
  s:send(cmds)
  return s
end
local q = ngx.var.arg_q
if q == "inclusive" then
  local s = conn("S abcXYdefXYg\\nC\\n")
  local r = s:receiveuntil("XY", { inclusive = true })
  for i = 1, 8 do show(r(2)) end
elseif q == "eof" then
  local s = conn("S def\\nC\\n")
  show(s:receive("*a"))
  show(s:receive("*a"))
  show(s:receive())
elseif q == "reset" then
  local s = conn("S partial\\nZ 0.05\\nR\\n")
  show(s:receive("*a"))
  show(s:close())
end
LUA
$t->start;
is($t->get('recv.lua', QUERY_STRING => 'q=inclusive')->{body},
   qq{"ab"\n"cXY"\nnil,nil,nil\n"de"\n"fXY"\nnil,nil,nil\nnil,"closed","g"\nnil,"closed"\n},
   'receiveuntil inclusive with a size: the pattern comes with the bytes before it');
is($t->get('recv.lua', QUERY_STRING => 'q=eof')->{body}, qq{"def"\n""\nnil,"closed",""\n},
   '"*a" at the end again: "", then "*l": nil, "closed", ""');
is($t->get('recv.lua', QUERY_STRING => 'q=reset')->{body},
   qq{nil,"connection reset by peer","partial"\n1\n},
   'a reset ends the reading side only: close then answers 1, as ngx_lua (net corpus, tcp_peer_gone.lua)');
$t->stop;
LFTest::stop_pid($srv, 'KILL', 5);
done_testing;
