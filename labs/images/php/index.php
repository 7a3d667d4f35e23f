<?php
// A page that says which container answered (its hostname) and when.
echo "Bonjour depuis " . gethostname() . " : " . date("H:i:s") . "\n";
